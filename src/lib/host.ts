// The host of an authority as the gateway routes, keys and purges by it.

/** Lowercase host without its port; IPv6 literals keep their brackets. */
export function hostOnly(authority: string): string {
  if (authority.charCodeAt(0) === 91 /* [ */) {
    const end = authority.indexOf(']');
    return (end === -1 ? authority : authority.slice(0, end + 1)).toLowerCase();
  }
  const colon = authority.indexOf(':');
  return (colon === -1 ? authority : authority.slice(0, colon)).toLowerCase();
}

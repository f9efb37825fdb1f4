// The 10 KB JSON body of the transformation scenarios: 48 order records, each with a card number to mask.
// Shared by the benchmark upstream and the transform microbenchmark, so both measure the same body.
export function json10kBody(): Buffer {
  return Buffer.from(
    JSON.stringify({
      items: Array.from({ length: 48 }, (_, i) => ({
        id: 100_000 + i,
        customer_name: `Customer ${i}`,
        email: `customer${i}@example.com`,
        card: { number: String(4_000_000_000_000_000 + i * 7919), cvc: String(100 + i) },
        status: i % 3 === 0 ? 'shipped' : 'pending',
        total: { amount: 1999 + i, currency: 'EUR' },
        tags: ['bench', 'json'],
      })),
    }),
  );
}

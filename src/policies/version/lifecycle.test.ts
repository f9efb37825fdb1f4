// The lifecycle of a version as a function of the clock: every state, brownout windows (a list and a
// schedule), the next window, and the header values checked against their RFCs' grammar.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { PolicyConfigError } from '../../pipeline/policy.js';
import { brownoutAt, compileLifecycle, describeLifecycle, nextBrownout, stateAt } from './lifecycle.js';

const t = (iso: string) => Date.parse(iso);
const H = 3_600_000;

/** RFC 9745: Deprecation = sf-date, "@" followed by an integer (seconds since the epoch). */
const SF_DATE = /^@-?[0-9]{1,15}$/;
/** RFC 9110 IMF-fixdate, the form RFC 8594's Sunset uses. */
const IMF_FIXDATE =
  /^(Mon|Tue|Wed|Thu|Fri|Sat|Sun), [0-9]{2} (Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) [0-9]{4} [0-9]{2}:[0-9]{2}:[0-9]{2} GMT$/;

describe('version lifecycle', () => {
  const life = compileLifecycle(
    {
      deprecated_at: '2026-06-01T00:00:00Z',
      sunset_at: '2027-01-01T00:00:00Z',
      brownouts: [
        { at: '2026-12-01T10:00:00Z', duration_m: 60 },
        { at: '2026-11-01T10:00:00+02:00', duration_m: 30 },
      ],
    },
    [],
  );

  it('is active, deprecated, in a brownout, deprecated again and sunset as the clock moves', () => {
    assert.equal(stateAt(life, t('2026-05-31T23:59:59Z')), 'active');
    assert.equal(stateAt(life, t('2026-06-01T00:00:00Z')), 'deprecated');
    assert.equal(stateAt(life, t('2026-11-01T08:00:00Z')), 'brownout'); // 10:00+02:00
    assert.equal(stateAt(life, t('2026-11-01T08:30:00Z')), 'deprecated'); // the window is [start, end)
    assert.equal(stateAt(life, t('2026-12-01T10:59:59Z')), 'brownout');
    assert.equal(stateAt(life, t('2026-12-01T11:00:00Z')), 'deprecated');
    assert.equal(stateAt(life, t('2027-01-01T00:00:00Z')), 'sunset');
  });

  it('names the next brownout (sorted), the current one while inside it, and none after the last', () => {
    assert.deepEqual(nextBrownout(life, t('2026-10-01T00:00:00Z')), [
      t('2026-11-01T08:00:00Z'),
      t('2026-11-01T08:30:00Z'),
    ]);
    assert.deepEqual(nextBrownout(life, t('2026-12-01T10:30:00Z')), [
      t('2026-12-01T10:00:00Z'),
      t('2026-12-01T11:00:00Z'),
    ]);
    assert.equal(nextBrownout(life, t('2026-12-02T00:00:00Z')), undefined);
  });

  it('repeats a scheduled brownout every every_h hours until the sunset, the last one cut at the sunset', () => {
    const weekly = compileLifecycle(
      {
        sunset_at: '2026-12-15T12:30:00Z',
        brownouts: { from: '2026-12-01T12:00:00Z', every_h: 168, duration_m: 60 },
      },
      [],
    );
    assert.equal(brownoutAt(weekly, t('2026-12-01T11:59:59Z')), undefined);
    assert.deepEqual(brownoutAt(weekly, t('2026-12-08T12:10:00Z')), [
      t('2026-12-08T12:00:00Z'),
      t('2026-12-08T13:00:00Z'),
    ]);
    assert.equal(stateAt(weekly, t('2026-12-08T13:00:00Z')), 'active');
    assert.deepEqual(nextBrownout(weekly, t('2026-12-09T00:00:00Z')), [
      t('2026-12-15T12:00:00Z'),
      t('2026-12-15T12:30:00Z'),
    ]);
    assert.equal(stateAt(weekly, t('2026-12-15T12:30:00Z')), 'sunset');
    assert.equal(nextBrownout(weekly, t('2026-12-15T12:30:00Z')), undefined);
  });

  it('announces itself with an RFC 9745 Deprecation date and an RFC 8594 Sunset IMF-fixdate', () => {
    assert.match(life.deprecationHeader!, SF_DATE);
    assert.equal(life.deprecationHeader, '@' + t('2026-06-01T00:00:00Z') / 1000);
    assert.match(life.sunsetHeader!, IMF_FIXDATE);
    assert.equal(life.sunsetHeader, 'Fri, 01 Jan 2027 00:00:00 GMT');
  });

  it('says where it stands for `portico routes`', () => {
    assert.equal(
      describeLifecycle(life, t('2026-10-01T00:00:00Z')),
      'deprecated, sunset 2027-01-01T00:00:00Z, next brownout 2026-11-01T08:00:00Z for 30 min',
    );
    assert.equal(
      describeLifecycle(life, t('2026-12-01T10:15:00Z')),
      'brownout, sunset 2027-01-01T00:00:00Z, until 2026-12-01T11:00:00Z',
    );
    assert.equal(describeLifecycle(life, t('2027-02-01T00:00:00Z')), 'sunset');
  });

  it('refuses what the schema cannot: sunset before deprecation, a redirect with no successor, brownouts after the sunset or without one', () => {
    const refused = (l: Parameters<typeof compileLifecycle>[0]): PolicyConfigError => {
      try {
        compileLifecycle(l, ['versions', '1']);
      } catch (err) {
        assert.ok(err instanceof PolicyConfigError);
        return err;
      }
      assert.fail('accepted');
    };
    const a = refused({ deprecated_at: '2027-01-01T00:00:00Z', sunset_at: '2026-01-01T00:00:00Z' });
    assert.deepEqual(a.path, ['versions', '1', 'sunset_at']);
    assert.match(a.message, /before deprecated_at/);
    assert.deepEqual(refused({ after_sunset: 'redirect' }).path, ['versions', '1', 'after_sunset']);
    assert.deepEqual(
      refused({
        sunset_at: '2026-01-01T00:00:00Z',
        brownouts: [{ at: '2026-02-01T00:00:00Z', duration_m: 5 }],
      }).path,
      ['versions', '1', 'brownouts', 0, 'at'],
    );
    assert.deepEqual(refused({ brownouts: [{ at: '2026-02-01T00:00:00Z', duration_m: 5 }] }).path, [
      'versions',
      '1',
      'brownouts',
    ]);
    assert.deepEqual(
      refused({
        sunset_at: '2027-01-01T00:00:00Z',
        brownouts: { from: '2026-01-01T00:00:00Z', every_h: 1, duration_m: 60 },
      }).path,
      ['versions', '1', 'brownouts', 'duration_m'],
    );
  });

  it('a lifecycle with a schedule and no windows left is plain deprecated', () => {
    const l = compileLifecycle(
      { deprecated_at: '2026-01-01T00:00:00Z', sunset_at: '2026-01-02T00:00:00Z', after_sunset: 'serve' },
      [],
    );
    assert.equal(stateAt(l, t('2026-01-01T12:00:00Z')), 'deprecated');
    assert.equal(nextBrownout(l, t('2026-01-01T12:00:00Z') - H), undefined);
  });
});

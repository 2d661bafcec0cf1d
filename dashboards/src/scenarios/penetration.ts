import { type Section, q, sumRate, timeseries } from '../grafana.js'

// Penetration (缓存穿透): reads of ids that exist nowhere. k6/penetration.js runs the attack; watch
// what each mode answers without MySQL. Metrics: README "Penetration".
export const penetration: Section = {
  title: 'Penetration: Bloom filter and null cache',
  collapsed: true,
  panels: [
    timeseries(
      'Missing ids answered without MySQL/s',
      'bloom_reject: the Bloom filter said "definitely absent" (no Redis, no MySQL). null_hit: a cached "not found" sentinel answered (no MySQL). With penetration mode none both stay at 0 and every missing id costs a MySQL select; null-cache helps only for repeated ids, Bloom modes for random ones too.',
      [q(sumRate('cachelab_cache_lookups_total{outcome="bloom_reject"}'), 'bloom rejects/s'), q(sumRate('cachelab_cache_lookups_total{outcome="null_hit"}'), 'null hits/s')],
      { unit: 'ops', min: 0, width: 8 },
    ),
    timeseries(
      'Bloom filter answers/s',
      'maybe (let through: exists, or a false positive), absent (rejected), caught_up (absent here but created on another replica: learned from the creation journal just in time), unchecked (filter not trusted or journal unreachable: let through, never rejected). Series only while a Bloom mode is active.',
      [q(sumRate('cachelab_bloom_checks_total', ['answer']), '{{answer}}'), q(sumRate('cachelab_bloom_false_positives_total'), 'false positives')],
      { unit: 'ops', min: 0, width: 8 },
    ),
    timeseries(
      'Bloom false-positive rate: target, estimated, measured',
      'target = bloomFpRate at capacity; estimated = fill^k now; measured = reads the filter let through that ended in 404 / reads of absent ids, since the filter was built. Attack DB queries per 1000 ≈ 1000 × measured. Worst replica shown.',
      [q('max by (source) (cachelab_bloom_false_positive_ratio)', '{{source}}')],
      { unit: 'percentunit', min: 0, width: 8 },
    ),
    timeseries(
      'Bloom filter fill by replica',
      'Fraction of the filter bits set (each replica has its own filter); items / capacity shows how far the filter is from the size it was built for. Past capacity the false-positive rate grows, and the filter is rebuilt twice as large.',
      [q('max by (instance) (cachelab_bloom_fill_ratio)', 'fill {{instance}}'), q('max by (instance) (cachelab_bloom_items / cachelab_bloom_capacity_items)', 'items / capacity {{instance}}')],
      { unit: 'percentunit', min: 0, width: 12 },
    ),
    timeseries(
      'Null sentinel writes/s by result',
      'stored: a MySQL miss cached "not found" for nullTtlSeconds; fenced: refused because the id was just created (the sentinel would hide the new order); kept: an order was cached meanwhile; error: Redis failed. Creations clear sentinels of their id.',
      [q(sumRate('cachelab_null_sentinel_writes_total', ['result']), '{{result}}'), q(sumRate('cachelab_null_sentinels_cleared_total'), 'cleared by a creation')],
      { unit: 'ops', min: 0, width: 12 },
    ),
  ],
}

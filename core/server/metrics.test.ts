import test from 'ava';
import { counter, formatMetrics, gauge, histogram } from './metrics.js';

test('counters, gauges with labels, escaping', (t) => {
  const text = formatMetrics([
    counter('a_total', 'a help', 3),
    gauge('b', 'b "help"\nline two', Number.NaN),
    { name: 'c_total', help: 'c', type: 'counter', samples: [{ labels: { verb: 'X', why: 'say "hi"\\' }, value: 2 }] },
  ]);
  t.is(
    text,
    '# HELP a_total a help\n# TYPE a_total counter\na_total 3\n' +
      '# HELP b b "help"\\nline two\n# TYPE b gauge\nb 0\n' +
      '# HELP c_total c\n# TYPE c_total counter\nc_total{verb="X",why="say \\"hi\\"\\\\"} 2\n',
  );
});

test('a histogram: cumulative buckets with le, +Inf, _sum and _count (Prometheus exposition format)', (t) => {
  const text = formatMetrics([histogram('setup_seconds', 'setup time', { bounds: [0.5, 1, 5], cumulative: [1, 3, 4, 5], sum: 9.25, count: 5 })]);
  t.is(
    text,
    [
      '# HELP setup_seconds setup time',
      '# TYPE setup_seconds histogram',
      'setup_seconds_bucket{le="0.5"} 1',
      'setup_seconds_bucket{le="1"} 3',
      'setup_seconds_bucket{le="5"} 4',
      'setup_seconds_bucket{le="+Inf"} 5',
      'setup_seconds_sum 9.25',
      'setup_seconds_count 5',
      '',
    ].join('\n'),
  );
  const labelled = formatMetrics([{ ...histogram('h', 'h', { bounds: [1], cumulative: [0, 0], sum: 0, count: 0 }), labels: { platform: 'apns' } }]);
  t.regex(labelled, /^h_bucket\{platform="apns",le="1"\} 0$/m);
  t.regex(labelled, /^h_count\{platform="apns"\} 0$/m);
});

import test from 'ava';
import { missingNodeFlags, NODE_FLAGS } from './v8-flags.js';

test('missingNodeFlags: a start-up flag counts as given in the arguments or NODE_OPTIONS, with any value or spelling', (t) => {
  t.deepEqual(missingNodeFlags([], ''), [...NODE_FLAGS]);
  t.deepEqual(missingNodeFlags(['--max-semi-space-size=8'], ''), []);
  t.deepEqual(missingNodeFlags([], '--enable-source-maps --max-semi-space-size=4'), [], 'another value is the operator\'s choice');
  t.deepEqual(missingNodeFlags(['--max_semi_space_size=8'], ''), []);
  t.deepEqual(missingNodeFlags(['--max-old-space-size=8'], '--max-semi-space'), [...NODE_FLAGS]);
});

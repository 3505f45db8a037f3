'use strict';
try {
  module.exports = require('./build/Release/tandem_native.node');
} catch (e) {
  if (e && e.code !== 'MODULE_NOT_FOUND') throw e;
  // Its install script did not run (npm --ignore-scripts, or a policy that blocks it).
  throw new Error(`the native addon is not built (${__dirname}/build is missing): run 'npm rebuild tandem-native' where tandem is installed (needs python3, make, g++)`);
}

'use strict';
module.exports = require('./build/Release/tandem_native.node');

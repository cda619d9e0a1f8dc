'use strict';
// The compiled addon (build/Release/malloc_trim.node), built by `node-gyp rebuild` at install.
module.exports = require('./build/Release/malloc_trim.node');

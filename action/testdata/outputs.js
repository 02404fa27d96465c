'use strict';
// The tests' reader of a GITHUB_OUTPUT file.
const fs = require('node:fs');

/** Reads the name=value lines written to a GITHUB_OUTPUT file, as an object. */
function readOutputs(file) {
  return Object.fromEntries(
    fs
      .readFileSync(file, 'utf8')
      .split('\n')
      .filter(Boolean)
      .map((line) => [line.slice(0, line.indexOf('=')), line.slice(line.indexOf('=') + 1)]),
  );
}

module.exports = { readOutputs };

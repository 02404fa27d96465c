'use strict';
// Scratch folders for one test file, all under one temporary folder that is removed
// when the file's tests end (pass or fail), so test runs leave nothing behind.

const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { after } = require('node:test');

const root = fs.mkdtempSync(path.join(os.tmpdir(), 'ecr-reconcile-test-'));
after(() => fs.rmSync(root, { recursive: true, force: true }));

/** A new empty folder whose name starts with `prefix`. */
function scratch(prefix) {
  return fs.mkdtempSync(path.join(root, prefix));
}

module.exports = { scratch };

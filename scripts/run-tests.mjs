#!/usr/bin/env node
// Runs every test once and ends with a plain "N passed, N failed, N skipped" line,
// so CI and people read the same summary. Extra arguments go to vitest.
import { spawnSync } from 'node:child_process'
import { readFileSync, rmSync } from 'node:fs'

const resultsFile = '.test-results.json'
rmSync(resultsFile, { force: true })
const run = spawnSync(
  'npx',
  ['vitest', 'run', '--reporter=default', '--reporter=json', `--outputFile=${resultsFile}`, ...process.argv.slice(2)],
  { stdio: 'inherit' },
)
let summary
try {
  const results = JSON.parse(readFileSync(resultsFile, 'utf8'))
  summary = `${results.numPassedTests} passed, ${results.numFailedTests} failed, ${results.numPendingTests + results.numTodoTests} skipped`
  if (results.numTotalTests === 0) {
    console.error('no tests ran')
    process.exitCode = 1
  }
} catch {
  summary = '0 passed, 1 failed'
  console.error('the test run produced no results file')
}
console.log(`\ntests: ${summary}`)
process.exitCode = run.status === 0 && !process.exitCode ? 0 : 1

// Summarise a V8 .cpuprofile (from node --cpu-prof): top functions by self time.
//
//   node bench/cpuprofile-top.mjs <file.cpuprofile | directory> [substring-filter] [rows]
//
// Percentages are of non-idle time. Paths are shown relative to the repository.
import { readFileSync, readdirSync, statSync } from 'node:fs'
import { join } from 'node:path'

const [target, filter = '', rowsArg = '25'] = process.argv.slice(2)
if (!target) {
  process.stderr.write('usage: node bench/cpuprofile-top.mjs <file.cpuprofile | directory> [filter] [rows]\n')
  process.exit(2)
}
const files = statSync(target).isDirectory()
  ? readdirSync(target)
      .filter((f) => f.endsWith('.cpuprofile'))
      .map((f) => join(target, f))
  : [target]

for (const file of files) {
  const profile = JSON.parse(readFileSync(file, 'utf8'))
  const nodes = new Map(profile.nodes.map((n) => [n.id, n]))
  const selfByNode = new Map()
  profile.samples.forEach((id, i) => selfByNode.set(id, (selfByNode.get(id) ?? 0) + (profile.timeDeltas[i] ?? 0)))
  const selfByFunction = new Map()
  const selfByFile = new Map()
  let busy = 0
  let idle = 0
  for (const [id, micros] of selfByNode) {
    const { functionName, url, lineNumber } = nodes.get(id).callFrame
    if (functionName === '(idle)') {
      idle += micros
      continue
    }
    busy += micros
    const where = url
      .replace(/^file:\/\/\/.*?\/node_modules\/\.pnpm\/([^/]+)\/.*$/, 'dep:$1')
      .replace(/^file:\/\/.*?\/(packages|bench)\//, '$1/')
    const key = `${functionName || '(anonymous)'}  ${where}${where ? `:${lineNumber + 1}` : ''}`
    selfByFunction.set(key, (selfByFunction.get(key) ?? 0) + micros)
    const fileKey = where || functionName
    selfByFile.set(fileKey, (selfByFile.get(fileKey) ?? 0) + micros)
  }
  const pct = (micros) => `${((100 * micros) / busy).toFixed(1).padStart(5)}%`
  const ms = (micros) => `${(micros / 1000).toFixed(1).padStart(8)} ms`
  console.log(`\n${file}\nbusy ${(busy / 1000).toFixed(0)} ms, idle ${(idle / 1000).toFixed(0)} ms`)
  console.log('-- functions by self time')
  const rows = Number(rowsArg)
  for (const [key, micros] of [...selfByFunction].filter(([k]) => k.includes(filter)).sort((a, b) => b[1] - a[1]).slice(0, rows)) {
    console.log(`${pct(micros)} ${ms(micros)}  ${key}`)
  }
  console.log('-- files by self time')
  for (const [key, micros] of [...selfByFile].filter(([k]) => k.includes(filter)).sort((a, b) => b[1] - a[1]).slice(0, 12)) {
    console.log(`${pct(micros)} ${ms(micros)}  ${key}`)
  }
}

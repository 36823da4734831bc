import { readFileSync } from 'node:fs'
import { describe, expect, it } from 'vitest'

// options.ts is what the API reference (`pnpm run docs`) shows for
// `createNode(config)`; schema.ts checks at compile time that it declares
// exactly the schema's options. This checks each one is documented.
const source = readFileSync(new URL('../../src/config/options.ts', import.meta.url), 'utf8')

/** Each property declaration of the file's interfaces, with the TSDoc comment right above it. */
function properties(): Array<{ name: string; optional: boolean; doc: string }> {
  const found: Array<{ name: string; optional: boolean; doc: string }> = []
  const pattern = /(\/\*\*(?:(?!\*\/)[\s\S])*\*\/)?\s*\n {2}(\w+)(\??):/g
  for (const match of source.matchAll(pattern)) found.push({ name: match[2] as string, optional: match[3] === '?', doc: match[1] ?? '' })
  return found
}

describe('the documented config options', () => {
  it('every option has a description, and every optional one that is not a section states its default', () => {
    const all = properties()
    expect(all.length).toBeGreaterThan(80)
    const undocumented = all.filter((p) => p.doc.replace(/[/*\s]/g, '').length < 10).map((p) => p.name)
    expect(undocumented).toEqual([])
    const sections = /(defaults inside)/
    const withoutDefault = all.filter((p) => p.optional && !sections.test(p.doc) && !/@defaultValue|needed in `ca` mode/.test(p.doc)).map((p) => p.name)
    expect(withoutDefault).toEqual([])
  })
})

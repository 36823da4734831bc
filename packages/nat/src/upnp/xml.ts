import { createRequire } from 'node:module'
import { errorMessage } from '@crust/core/plugin'
import { UpnpError, firstLine } from './errors.js'

/**
 * An XML element as nat-upnp's parser (xml2js 0.1) shapes it: child elements
 * by name (repeated ones as arrays), attributes under `@`, and an element with
 * text only collapsed to its string.
 */
export interface XmlElement {
  readonly [name: string]: XmlValue
}
export type XmlValue = string | XmlElement | readonly XmlValue[]

interface Xml2jsParser {
  parseString(text: string, callback: (error: unknown, result: unknown) => void): unknown
}

let Parser: (new () => Xml2jsParser) | undefined

/** nat-upnp's own XML parser, loaded from nat-upnp's dependencies on first use (so both read XML the same way). */
function parser(): Xml2jsParser {
  if (Parser === undefined) {
    const fromHere = createRequire(import.meta.url)
    const fromNatUpnp = createRequire(fromHere.resolve('nat-upnp'))
    Parser = (fromNatUpnp('xml2js') as { Parser: new () => Xml2jsParser }).Parser
  }
  return new Parser()
}

/**
 * Parse `text` (a gateway's answer, named `what` in errors). The parser calls
 * back synchronously, may call back twice or throw on trailing garbage, and
 * never calls back on truncated input: all of that becomes a `malformed`
 * {@link UpnpError} here, never an exception escaping an I/O callback.
 */
export function parseXml(text: string, what: string): XmlElement {
  if (text.trim() === '') throw new UpnpError('malformed', `${what} is empty`)
  let outcome: { readonly error: unknown } | { readonly value: unknown } | undefined
  try {
    parser().parseString(text, (error, value) => {
      outcome ??= error ? { error } : { value }
    })
  } catch (error) {
    outcome = { error } // even after a callback: trailing garbage throws once the root element closed
  }
  if (outcome === undefined) throw new UpnpError('malformed', `${what} is truncated`)
  if ('error' in outcome) {
    const reason = errorMessage(outcome.error)
    throw new UpnpError('malformed', `${what} is not XML: ${firstLine(reason)}`, { cause: outcome.error })
  }
  if (!isElement(outcome.value)) throw new UpnpError('malformed', `${what} has no elements`)
  return outcome.value
}

/** True for an element with children or attributes (not text, not a list). */
export function isElement(value: unknown): value is XmlElement {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
}

/** The child element or text named `name`, with or without a namespace prefix (`s:Body`, `Body`). */
export function child(element: XmlElement, name: string): XmlValue | undefined {
  if (name in element) return element[name]
  const key = Object.keys(element).find((k) => k.endsWith(`:${name}`))
  return key === undefined ? undefined : element[key]
}

/** The text of a value, when it is text (an empty element reads as ''). */
export function text(value: XmlValue | undefined): string | undefined {
  if (typeof value === 'string') return value
  if (isElement(value) && Object.keys(value).every((k) => k === '@')) return ''
  return undefined
}

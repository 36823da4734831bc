/**
 * PEM certificate bundles.
 *
 * @packageDocumentation
 */
import { X509Certificate } from 'node:crypto'

const CERTIFICATE_BLOCK = /-----BEGIN CERTIFICATE-----\r?\n[\s\S]*?-----END CERTIFICATE-----/g

/** True when `text` contains at least one PEM certificate block. */
export function containsPemCertificate(text: string): boolean {
  return text.includes('-----BEGIN CERTIFICATE-----')
}

/**
 * Split a PEM bundle into its certificates, each parsed to check it. Throws
 * (with node's parse error) when a block is corrupt or when there is none.
 */
export function parsePemCertificates(text: string): { pem: string; certificate: X509Certificate }[] {
  const blocks = text.match(CERTIFICATE_BLOCK) ?? []
  if (blocks.length === 0) throw new Error('no PEM certificate found')
  return blocks.map((block) => {
    const pem = `${block.replace(/\r\n/g, '\n')}\n`
    return { pem, certificate: new X509Certificate(pem) }
  })
}

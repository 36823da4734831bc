import type { CB, RawResponse } from 'nat-upnp'
import { UpnpError, asUpnpError } from './errors.js'
import { httpRequest } from './http.js'
import { type XmlElement, type XmlValue, child, isElement, parseXml, text } from './xml.js'

/** The WAN connection services a port mapping can be asked of, in order of preference. */
const SERVICE_TYPES = [
  'urn:schemas-upnp-org:service:WANIPConnection:2',
  'urn:schemas-upnp-org:service:WANIPConnection:1',
  'urn:schemas-upnp-org:service:WANPPPConnection:1',
]

/** Where and how to send SOAP actions to a gateway. */
export interface ControlPoint {
  readonly serviceType: string
  readonly controlUrl: URL
}

/**
 * A UPnP gateway device, with the one method nat-upnp's client drives (`run`), and
 * the transport nat-upnp lacks: nat-upnp's own device has no timeouts and
 * throws from inside its HTTP callbacks when a gateway answers an empty body,
 * garbage XML, or XML with trailing text, which would crash the process.
 * Here every request has a deadline and an abort signal, answers are parsed
 * defensively, and every failure reaches the callback as a {@link UpnpError}.
 */
export class GatewayDevice {
  /** Deadline of each HTTP request, ms. */
  timeout: number
  /** Aborts requests (the service stopping); replaced per operation. */
  signal: AbortSignal = new AbortController().signal
  /** Receives what nat-upnp's code throws inside a callback this device called (it cannot be allowed to escape). */
  onCallbackError: (error: unknown) => void = () => {}
  private control: Promise<ControlPoint> | undefined

  constructor(
    /** The device description URL (SSDP `LOCATION`). */
    readonly location: URL,
    timeout: number,
  ) {
    this.timeout = timeout
  }

  /** The WAN connection service to control, read from the description once (again after a failure). */
  controlPoint(): Promise<ControlPoint> {
    if (this.control === undefined) {
      const control = this.describe()
      this.control = control
      control.catch(() => {
        if (this.control === control) this.control = undefined
      })
    }
    return this.control
  }

  /** Send SOAP `action` and return the SOAP body of a 200 answer. */
  async call(action: string, args: ReadonlyArray<readonly [string, string | number | undefined]>): Promise<XmlElement> {
    const control = await this.controlPoint()
    const answer = await httpRequest(control.controlUrl, {
      method: 'POST',
      headers: { 'Content-Type': 'text/xml; charset="utf-8"', SOAPAction: `"${control.serviceType}#${action}"` },
      body: soapEnvelope(control.serviceType, action, args),
      timeout: this.timeout,
      signal: this.signal,
    })
    if (answer.status !== 200) throw failure(action, answer.status, answer.body)
    const body = child(parseXml(answer.body, `the gateway's answer to ${action}`), 'Body')
    if (!isElement(body)) throw new UpnpError('malformed', `the gateway's answer to ${action} has no SOAP body`)
    if (child(body, `${action}Response`) === undefined) {
      const fault = faultOf(body)
      if (fault !== undefined) throw new UpnpError('fault', `the gateway refused ${action}: ${fault.code} ${fault.description}`, { status: 200, faultCode: fault.code })
      throw new UpnpError('malformed', `the gateway's answer to ${action} has no ${action}Response`)
    }
    return body
  }

  /** nat-upnp's entry point: like {@link call}, with a callback that may throw without harm. */
  run(action: string, args: Array<[string, string | number]>, callback: CB<RawResponse>): void {
    this.call(action, args).then(
      (body) => this.deliver(() => callback(null, body as unknown as RawResponse)),
      (error: unknown) => this.deliver(() => callback(asUpnpError(error))),
    )
  }

  private deliver(invoke: () => void): void {
    try {
      invoke()
    } catch (error) {
      this.onCallbackError(error)
    }
  }

  private async describe(): Promise<ControlPoint> {
    const where = this.location.href
    const answer = await httpRequest(this.location, { method: 'GET', timeout: this.timeout, signal: this.signal })
    if (answer.status !== 200) throw new UpnpError('http-status', `the gateway's description ${where} answered HTTP ${answer.status}`, { status: answer.status })
    const root = parseXml(answer.body, `the gateway's description ${where}`)
    const offered: Array<{ type: string; controlUrl: string }> = []
    walkServices(child(root, 'device'), (service) => {
      const type = text(child(service, 'serviceType'))
      const controlUrl = text(child(service, 'controlURL'))
      if (type !== undefined && controlUrl) offered.push({ type, controlUrl })
    })
    const chosen = SERVICE_TYPES.map((type) => offered.find((service) => service.type === type)).find((service) => service !== undefined)
    if (chosen === undefined) throw new UpnpError('no-service', `the gateway's description ${where} lists no WANIPConnection or WANPPPConnection service`)
    const base = text(child(root, 'URLBase')) || where
    let controlUrl: URL
    try {
      controlUrl = new URL(chosen.controlUrl, base)
    } catch {
      throw new UpnpError('malformed', `the gateway's description ${where} has a bad control URL: ${chosen.controlUrl}`)
    }
    if (controlUrl.protocol !== 'http:') throw new UpnpError('malformed', `the gateway's control URL is not http: ${controlUrl.href}`)
    return { serviceType: chosen.type, controlUrl }
  }
}

/** Visit `device` and its embedded devices (`deviceList`), depth first. */
function walkDevices(device: XmlValue | undefined, visit: (device: XmlElement) => void): void {
  for (const one of list(device)) {
    if (!isElement(one)) continue
    visit(one)
    const embedded = child(one, 'deviceList')
    if (isElement(embedded)) walkDevices(child(embedded, 'device'), visit)
  }
}

/** Visit every service of `device` and its embedded devices. */
function walkServices(device: XmlValue | undefined, visit: (service: XmlElement) => void): void {
  walkDevices(device, (one) => {
    const serviceList = child(one, 'serviceList')
    if (!isElement(serviceList)) return
    for (const service of list(child(serviceList, 'service'))) if (isElement(service)) visit(service)
  })
}

function list(value: XmlValue | undefined): readonly XmlValue[] {
  if (value === undefined) return []
  return Array.isArray(value) ? value : [value as XmlValue]
}

/** The UPnP error in a SOAP fault (`Fault/detail/UPnPError`), when there is one. */
function faultOf(body: XmlElement): { code: number; description: string } | undefined {
  const fault = child(body, 'Fault')
  const detail = isElement(fault) ? child(fault, 'detail') : undefined
  const error = isElement(detail) ? child(detail, 'UPnPError') : undefined
  if (!isElement(error)) return undefined
  const code = Number(text(child(error, 'errorCode')))
  if (!Number.isInteger(code)) return undefined
  return { code, description: text(child(error, 'errorDescription')) ?? '' }
}

/** A non-200 answer: a UPnP fault when the body carries one (gateways answer faults with HTTP 500). */
function failure(action: string, status: number, body: string): UpnpError {
  let fault: { code: number; description: string } | undefined
  try {
    const soapBody = child(parseXml(body, 'fault'), 'Body')
    fault = isElement(soapBody) ? faultOf(soapBody) : undefined
  } catch {
    fault = undefined // a bare HTTP error
  }
  if (fault !== undefined) return new UpnpError('fault', `the gateway refused ${action}: ${fault.code} ${fault.description}`, { status, faultCode: fault.code })
  return new UpnpError('http-status', `the gateway answered ${action} with HTTP ${status}`, { status })
}

/** The SOAP request for `action` (as nat-upnp builds it, with values escaped). */
export function soapEnvelope(serviceType: string, action: string, args: ReadonlyArray<readonly [string, string | number | undefined]>): string {
  const fields = args.map(([name, value]) => `<${name}>${value === undefined ? '' : escapeXml(String(value))}</${name}>`).join('')
  return (
    '<?xml version="1.0"?>' +
    '<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/" s:encodingStyle="http://schemas.xmlsoap.org/soap/encoding/">' +
    `<s:Body><u:${action} xmlns:u="${serviceType}">${fields}</u:${action}></s:Body>` +
    '</s:Envelope>'
  )
}

function escapeXml(value: string): string {
  return value.replace(/[<>&'"]/g, (c) => `&#${c.charCodeAt(0)};`)
}

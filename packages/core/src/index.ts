export * from './errors.js'
export * from './logger.js'
export * from './transport/types.js'
export * from './transport/address.js'

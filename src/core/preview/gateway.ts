// The gateway lives in src/core/gateway/; this path stays for existing imports.
export * from '../gateway/index.js'

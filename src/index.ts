// The programmatic API: what agents and tests import.
export {PreviewManager, DEFAULTS} from './core/preview/manager.js'
export type {ManagerOptions, StartOptions, StartResult, StopResult} from './core/preview/manager.js'
export type {PreviewRow, AuthMode, ProviderName, PreviewStatus, StopReason, LinkRecord} from './core/preview/types.js'
export * from './core/errors.js'

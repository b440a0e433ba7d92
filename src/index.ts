// The programmatic API: what agents and tests import.
export {PreviewManager, DEFAULTS} from './core/preview/manager.js'
export type {ManagerOptions, StartOptions, StartResult, StopResult} from './core/preview/manager.js'
export type {PreviewRow, AuthMode, ProviderName, PreviewStatus, StopReason, LinkRecord} from './core/records/types.js'
export * from './core/errors.js'
export {readEvents, followEvents} from './core/records/events.js'
export type {LifecycleEvent, LifecycleEventName} from './core/records/events.js'
export {initConfig} from './core/preview/init-config.js'

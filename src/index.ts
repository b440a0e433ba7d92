// The programmatic API: what agents and tests import.
export {PreviewManager, DEFAULTS} from './core/preview/manager.js'
export type {ManagerOptions, StartOptions, StartResult, StopResult} from './core/preview/manager.js'
export type {PreviewRow, AuthMode, ProviderName, PreviewStatus, StopReason, LinkRecord} from './core/preview/types.js'
export * from './core/errors.js'
export {readEvents, followEvents} from './core/preview/events.js'
export type {LifecycleEvent, LifecycleEventName} from './core/preview/events.js'
export {initConfig} from './core/preview/init-config.js'

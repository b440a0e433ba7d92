// Types for scripts/e2e-apps.mjs (the browser e2e app cache), so the type-checked tests can import it.
export declare const CACHE_DIR: string
export declare const APPS: Record<'next' | 'vite' | 'webpack', {generate: string[][]; files: Record<string, string>}>
/** Returns the cache dir of an installed app, building it first when its key changed or it is missing. */
export declare function ensureApp(name: keyof typeof APPS): string
/** Copies a cached app into a fresh temp git repo, commits it and returns the repo's real path. */
export declare function makeAppRepo(name: keyof typeof APPS): string

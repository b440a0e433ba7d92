// Entry point of the detached supervisor process: receives its spec (then the first link's credential) over IPC,
// reports ready/failed, runs until stopped.
import {appendFileSync} from 'node:fs'
import {format} from 'node:util'
import {debugPackage} from '../debug.js'
import type {Credential} from '../records/credentials.js'
import {logFile, sddPaths} from '../records/paths.js'
import type {SupervisorInput, SupervisorMessage, SupervisorSpec} from './ipc.js'
import {Supervisor} from './supervisor.js'

export type {SupervisorInput} from './ipc.js'

function send(msg: SupervisorMessage): Promise<void> {
  return new Promise((resolve) => {
    if (!process.send || !process.connected) {
      resolve()
      return
    }

    process.send(msg, () => resolve())
  })
}

let started = false
let readySent = false
let abortStart: (() => void) | null = null
let resolveCredential!: (c: Credential) => void
let rejectCredential!: (e: Error) => void
const credential = new Promise<Credential>((resolve, reject) => {
  resolveCredential = resolve
  rejectCredential = reject
})

// A pre-warmed supervisor whose start never came (bad input, --help) leaves with the CLI; one whose CLI went
// away before sending the credential fails its start (and rolls back).
// A CLI interrupted mid-start (Ctrl-C) takes its start with it: roll back instead of becoming a preview nobody
// was told about.
process.once('disconnect', () => {
  if (!started) process.exit(0)
  rejectCredential(new Error('preview start went away before the link was minted'))
  if (!readySent) abortStart?.()
})

process.on('message', (msg: SupervisorInput) => {
  if (msg.type === 'credential') resolveCredential(msg.credential)
  else if (!started) void run(msg.spec)
})

async function run(spec: SupervisorSpec): Promise<void> {
  started = true
  // Pre-warmed supervisors start where the CLI ran and with no log: settle both now.
  process.chdir(spec.cwd)
  const log = logFile(sddPaths(spec.sddDir), spec.id)
  process.on('uncaughtException', (error) => {
    appendFileSync(log, `[preview] supervisor crashed: ${error.stack ?? String(error)}\n`)
    process.exit(1)
  })
  const createDebug = debugPackage()
  if (createDebug) createDebug.log = (...args: unknown[]) => appendFileSync(log, `${format(...args)}\n`)
  const supervisor = new Supervisor(spec, (step, detail) => void send({detail, step, type: 'progress'}), credential)
  const onSignal = () => void supervisor.stop('operator')
  abortStart = onSignal
  // `preview restart` asks for a fresh dev server with SIGUSR2 (the request itself is in the row).
  process.on('SIGUSR2', () => void supervisor.restartDevServer())
  process.on('SIGTERM', onSignal)
  process.on('SIGINT', onSignal)
  process.on('SIGHUP', () => {}) // a closed terminal is not a stop
  try {
    const ready = await supervisor.start()
    readySent = true // before sending: the CLI disconnects as soon as it has the message
    await send(ready)
  } catch (error) {
    abortStart = null // already rolled back
    const {serializeError} = await import('./ipc.js') // only a failed start needs it
    await send({error: serializeError(error), type: 'failed'})
    if (process.connected) process.disconnect()
    process.exitCode = 1
    return
  }

  if (process.connected) process.disconnect()
  await supervisor.done
  // Handles left by libraries (tunnel SDKs) must not keep a stopped supervisor alive.
  setTimeout(() => process.exit(0), 200).unref()
}

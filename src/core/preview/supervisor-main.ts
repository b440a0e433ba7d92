// Entry point of the detached supervisor process: receives its spec over IPC, reports ready/failed, runs until stopped.
import {appendFileSync} from 'node:fs'
import {format} from 'node:util'
import {debugPackage} from '../debug.js'
import {logFile, sddPaths} from './paths.js'
import {Supervisor, serializeError, type SupervisorMessage, type SupervisorSpec} from './supervisor.js'

function send(msg: SupervisorMessage): Promise<void> {
  return new Promise((resolve) => {
    if (!process.send || !process.connected) {
      resolve()
      return
    }

    process.send(msg, () => resolve())
  })
}

// A pre-warmed supervisor whose start never came (bad input, --help) leaves with the CLI.
let started = false
process.once('disconnect', () => {
  if (!started) process.exit(0)
})

process.once('message', async (spec: SupervisorSpec) => {
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
  const supervisor = new Supervisor(spec, (step, detail) => void send({detail, step, type: 'progress'}))
  const onSignal = () => void supervisor.stop('operator')
  // `preview restart` asks for a fresh dev server with SIGUSR2 (the request itself is in the row).
  process.on('SIGUSR2', () => void supervisor.restartDevServer())
  process.on('SIGTERM', onSignal)
  process.on('SIGINT', onSignal)
  process.on('SIGHUP', () => {}) // a closed terminal is not a stop
  try {
    const ready = await supervisor.start()
    await send(ready)
  } catch (error) {
    await send({error: serializeError(error), type: 'failed'})
    if (process.connected) process.disconnect()
    process.exitCode = 1
    return
  }

  if (process.connected) process.disconnect()
  await supervisor.done
  // Handles left by libraries (tunnel SDKs) must not keep a stopped supervisor alive.
  setTimeout(() => process.exit(0), 200).unref()
})

// The optional preview id of status, logs, events, share, restart and stop (left out: the only running preview).
import * as Args from '@oclif/core/args'

export const idArg = Args.string({
  description: 'preview id (p-xxxxxxxx); default: the only running preview of this repository',
  required: false,
})

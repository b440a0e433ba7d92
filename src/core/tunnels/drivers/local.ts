import type {TunnelDriver, TunnelHandle} from '../types.js'

/** `local`: no tunnel at all; the public URL is the gateway's loopback URL (offline use, tests). */
export const localDriver: TunnelDriver = {
  name: 'local',
  async available() {
    return {ok: true}
  },
  async open({localUrl}) {
    const handle: TunnelHandle = {
      close: async () => {},
      name: null,
      onExit() {},
      pid: null,
      publicUrl: localUrl,
    }
    return handle
  },
}

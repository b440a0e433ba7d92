// Runs the real gateway (from dist/) in its own process, in token mode, and prints its port and a valid token.
import {randomBytes} from 'node:crypto'
import {mintLink} from '../../dist/core/records/credentials.js'
import {startGateway} from '../../dist/core/gateway/index.js'

const target = Number(process.argv[2])
const key = new Uint8Array(randomBytes(32))
const previewId = 'p-be7c4000'
const gw = await startGateway({auth: {jwtKey: key, links: [], mode: 'token', previewId}, targetPort: target})
const link = await mintLink({authMode: 'token', expiresAtEpoch: Math.floor(Date.now() / 1000) + 3600, key, previewId, publicUrl: gw.url})
gw.setLinks([link.record])
console.log(`READY ${gw.port} preview_${previewId}=${new URL(link.url).searchParams.get('token')}`)

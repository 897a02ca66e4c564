// --syslog: messages go to the system log instead of stdout and stderr, as
// Xen's conversion helper does when XenServer's xenopsd runs it.
//
// Node cannot write to a Unix datagram socket (/dev/log), and a native
// module would be a build-time dependency for one flag, so messages go
// through util-linux `logger`, one synchronous run per message (a few
// milliseconds; there are only a handful: warnings, the error line, the -v
// report). Only options util-linux has had for a decade are used (-t, -p,
// -u; message lines on stdin), so the logger of an old dom0 takes them too.
// Ident "xst", facility user (as Python's syslog module, which Xen's helper
// uses, defaults to). When the socket is not there, or `logger` is missing
// or fails, the message is printed on stderr instead, without complaint: a
// message is never lost for want of a syslog.
import {spawnSync} from 'node:child_process'
import * as fs from 'node:fs'

export type Priority = 'err' | 'warning' | 'info'

/** The syslog socket: $XST_SYSLOG_SOCKET, or /dev/log. */
export function syslogSocket(): string {
  return process.env.XST_SYSLOG_SOCKET || '/dev/log'
}

export class Syslog {
  /** Unknown until the first message; false once syslog failed (then stderr, for good). */
  private usable: boolean | undefined
  readonly socket = syslogSocket()

  /** Log `text` (one message per line); false when syslog cannot be used, and the caller prints it. */
  send(priority: Priority, text: string): boolean {
    const lines = text.split('\n').filter((l) => l.trim() !== '')
    if (this.usable === undefined) this.usable = isSocket(this.socket)
    if (!this.usable) return false
    if (lines.length === 0) return true
    const r = spawnSync('logger', ['-t', 'xst', '-p', `user.${priority}`, '-u', this.socket], {
      input: lines.join('\n') + '\n',
      stdio: ['pipe', 'ignore', 'ignore'],
      timeout: 10_000,
    })
    if (r.error || r.status !== 0) {
      this.usable = false
      return false
    }
    return true
  }
}

function isSocket(path: string): boolean {
  try {
    return fs.statSync(path).isSocket()
  } catch {
    return false
  }
}

// Shared command behaviour: --json, warnings on stderr, and turning errors
// into one line and an exit code (1 bad input, 2 usage or internal bug).
import {Command, Errors} from '@oclif/core'
import {EXIT_USAGE, XstError} from '../errors.js'
import type {Priority, Syslog} from './syslog.js'

export abstract class XstCommand extends Command {
  static enableJsonFlag = true

  /** Warnings raised while running, also returned in --json output. */
  protected warnings: string[] = []

  /** Set when stdout carries data (an image), so reports must go to stderr. */
  protected reportToStderr = false

  logJson(json: unknown): void {
    ;(this.reportToStderr ? process.stderr : process.stdout).write(JSON.stringify(json, null, 2) + '\n')
  }

  /** When set (--syslog), text messages go to syslog instead of stdout/stderr. */
  protected syslog: Syslog | undefined

  /** A warning: on stderr for people, collected for --json. */
  protected note(message: string): void {
    this.warnings.push(message)
    if (!this.jsonEnabled()) this.message('warning', `warning: ${message}`)
  }

  /** Print a line of the text report (suppressed under --json). */
  protected line(text = ''): void {
    if (!this.jsonEnabled()) this.message('info', text)
  }

  /**
   * One text message: to syslog under --syslog (when it works), else report
   * lines to stdout (stderr when stdout carries data) and warnings and
   * errors to stderr.
   */
  protected message(priority: Priority, text: string): void {
    if (this.syslog?.send(priority, text)) return
    ;(priority === 'info' && !this.reportToStderr ? process.stdout : process.stderr).write(text + '\n')
  }

  protected async catch(err: Error & {exitCode?: number; oclif?: {exit?: number}}): Promise<any> {
    // oclif's own control flow (this.exit, --help, --version) passes through.
    if (err instanceof Errors.ExitError) throw err
    let code: number
    let json: Record<string, unknown>
    let text: string
    if (err instanceof XstError) {
      code = err.exitCode
      json = err.toJSON()
      text = err.message
    } else if (isParseError(err)) {
      code = EXIT_USAGE
      json = {code: 'usage', message: err.message}
      text = err.message.split('\n')[0] + `\nSee: xst ${this.id} --help`
    } else {
      const e = err as Error
      code = EXIT_USAGE
      json = {code: 'internal', message: String(e?.message ?? e)}
      text = `internal error (a bug in xst, please report it): ${e?.message ?? e}`
      if (process.env.XST_DEBUG) text += '\n' + (e?.stack ?? '')
    }
    if (this.jsonEnabled()) {
      this.logJson({ok: false, error: json, warnings: this.warnings})
    } else {
      this.message('err', `xst ${this.id}: ${text}`)
    }
    process.exitCode = code
    this.exit(code)
  }
}

function isParseError(err: unknown): err is Error {
  if (!(err instanceof Error)) return false
  const name = err.constructor?.name ?? ''
  return (
    name.endsWith('ParseError') ||
    name === 'RequiredArgsError' ||
    name === 'UnexpectedArgsError' ||
    name === 'NonExistentFlagsError' ||
    name === 'FlagInvalidOptionError' ||
    name === 'ArgInvalidOptionError' ||
    name === 'FailedFlagValidationError' ||
    name === 'CLIError'
  )
}

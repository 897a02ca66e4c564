import {Args} from '@oclif/core'
import {XstCommand} from '../cli/base.js'
import {FormatError} from '../errors.js'

export default class InspectLegacy extends XstCommand {
  static description = 'stub'
  static args = {image: Args.string({required: true})}
  async run(): Promise<unknown> {
    const {args} = await this.parse(InspectLegacy)
    if (args.image === 'bad') throw new FormatError('x', 'bad thing', {offset: 12}, 'A', 'B')
    if (args.image === 'bug') throw new TypeError('oops')
    this.line('hello')
    process.exitCode = 1
    return {ok: true}
  }
}

import {Args, loadHelpClass} from '@oclif/core'
import {XstCommand} from '../cli/base.js'

export default class Help extends XstCommand {
  static summary = 'Show help for xst or for one of its commands'
  static enableJsonFlag = false
  static strict = false

  static examples = [
    {description: 'All commands', command: '<%= config.bin %> <%= command.id %>'},
    {description: 'One command, with its flags and examples', command: '<%= config.bin %> <%= command.id %> convert'},
  ]

  static args = {
    command: Args.string({description: 'the command to describe', required: false}),
  }

  async run(): Promise<void> {
    const {argv} = await this.parse(Help)
    // oclif's own help renderer, as --help uses it.
    const HelpClass = await loadHelpClass(this.config)
    await new HelpClass(this.config, this.config.pjson.oclif.helpOptions).showHelp(argv as string[])
  }
}

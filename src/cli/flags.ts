// Flags several commands share.
import {Flags} from '@oclif/core'

type Char = 'w' | 'g'

export const widthFlag = (char?: Char) =>
  Flags.option({
    char,
    options: ['32', '64'] as const,
    description: 'toolstack word size of the saving host, when detection gets it wrong',
  })()

export const guestFlag = (char?: Char, aliases?: string[]) =>
  Flags.option({
    char,
    aliases,
    options: ['pv', 'hvm'] as const,
    description: 'guest type, when detection gets it wrong',
  })()

/** -q/--quiet: no progress and no report; errors and warnings are still said (on stderr). */
export const quietFlag = (exclusive?: string[]) =>
  Flags.boolean({
    char: 'q',
    exclusive,
    description: 'no progress and no summary; errors and warnings are still one line each on stderr (--json is still printed)',
  })

/** --progress/--no-progress: force progress on stderr either way (progress-mode.ts). */
export const progressFlag = () =>
  Flags.boolean({
    allowNo: true,
    description:
      'show progress on stderr even under -q, --json, CI or when stderr is not a terminal (a single line rewritten with \\r, or the task list when stdout and stderr are both terminals and TERM is not dumb); --no-progress: never. Default: the task list when stdout and stderr are terminals, one line when only stderr is (or TERM=dumb), none when stderr is not a terminal or CI is set',
  })

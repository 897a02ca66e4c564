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

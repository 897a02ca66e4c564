// What --container accepts. Apart from families.ts so that the convert
// command's flag table does not load the container code (every command's
// class loads on every run; see src/cli/commands.ts).

/** What --container asks for. */
export type ContainerChoice = 'keep' | 'xl' | 'libvirt' | 'xenserver' | 'none'
export const CONTAINER_CHOICES: readonly ContainerChoice[] = ['keep', 'xl', 'libvirt', 'xenserver', 'none']

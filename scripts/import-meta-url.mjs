// Injected into the CommonJS bundle (scripts/bundle.mjs): import.meta.url
// for the modules that use it, as the URL of the bundle itself (require and
// __filename are the bundle's, which is CommonJS).
export const __xstImportMetaUrl = require('node:url').pathToFileURL(__filename).href

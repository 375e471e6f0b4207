export { OPTIONS, OPTION_NAMES, defaultConfig, type GrexConfig, type GrexConfigInput, type OptionName } from './options.js';
export { loadConfig, resolveConfig, parseEnv, parseFlags, parseOptionsObject, readConfigFile, CONFIG_FILE_ENV, type ConfigSources } from './load-config.js';

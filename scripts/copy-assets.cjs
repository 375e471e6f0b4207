// Copies the static files the compiled code serves (the dashboard page) next to it in dist/.
const { cpSync } = require('node:fs');
const { join } = require('node:path');

const root = join(__dirname, '..');
cpSync(join(root, 'src/http/dashboard'), join(root, 'dist/src/http/dashboard'), { recursive: true });

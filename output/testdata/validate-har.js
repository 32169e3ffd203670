// Validates a HAR file against the HAR 1.2 JSON schema with the har-validator npm package.
// Usage: NODE_PATH=<dir with node_modules> node validate-har.js FILE
const validate = require('har-validator');
const fs = require('fs');
const har = JSON.parse(fs.readFileSync(process.argv[2], 'utf8'));
validate.har(har)
  .then(() => console.log('valid HAR 1.2,', har.log.entries.length, 'entries'))
  .catch((e) => { console.error('invalid HAR:', JSON.stringify(e.errors || String(e), null, 1)); process.exit(1); });

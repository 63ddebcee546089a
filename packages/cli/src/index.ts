export { diagnoseDelivery, fingerprint, type DiagnoseOptions, type Diagnosis, type Finding } from './diagnose.js'
export { parseHeaderLines, splitRawRequest } from './capture.js'

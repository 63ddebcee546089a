// Older framework majors installed under an alias for testing (see the adapters' devDependencies).
declare module 'express4' {
  import express from 'express'
  export default express
}
declare module 'koa2' {
  import Koa from 'koa'
  export default Koa
}

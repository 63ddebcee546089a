// The suite runs twice (vitest.config.ts): on the adapter's own devDependencies (NestJS 12) and,
// as the project 'nestjs@11', on NestJS 11. This proves each run loads the major it claims to test,
// so a broken alias cannot quietly test one major twice.
import { NestFactory } from '@nestjs/core'
import { FastifyAdapter } from '@nestjs/platform-fastify'
import { createRequire } from 'node:module'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { expect, it } from 'vitest'

const here = dirname(fileURLToPath(import.meta.url))
const expectedMajor = process.env['EXPECTED_NEST_MAJOR'] ?? '12'
const installedAt = expectedMajor === '11' ? join(here, 'nest11', 'package.json') : join(here, '..', 'package.json')
const installed = createRequire(installedAt)

it(`runs on NestJS ${expectedMajor}`, () => {
  const version = (installed('@nestjs/core/package.json') as { version: string }).version
  expect(version.split('.')[0]).toBe(expectedMajor)
  expect(NestFactory).toBe((installed('@nestjs/core') as typeof import('@nestjs/core')).NestFactory)
  expect(FastifyAdapter).toBe((installed('@nestjs/platform-fastify') as typeof import('@nestjs/platform-fastify')).FastifyAdapter)
})

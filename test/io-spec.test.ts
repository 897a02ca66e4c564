// The one rule for what an input or output argument names (src/io/spec.ts).
import {expect, test} from 'vitest'
import {parseSpec, specName} from '../src/io/spec.js'

test('"-" is the standard stream, a number a descriptor only where numbers are accepted, anything else a path', () => {
  expect(parseSpec('-')).toEqual({kind: 'std'})
  expect(parseSpec('-', {fdNumbers: true})).toEqual({kind: 'std'})
  expect(parseSpec('3', {fdNumbers: true})).toEqual({kind: 'fd', fd: 3})
  expect(parseSpec('3')).toEqual({kind: 'path', path: '3'})
  for (const text of ['3a', ' 3', '-3', '', './3', '/dev/fd/3']) expect(parseSpec(text, {fdNumbers: true})).toEqual({kind: 'path', path: text})
})

test('names in messages: stdin, stdout, "fd N", the path as given', () => {
  expect(specName(parseSpec('-'), 'input')).toBe('stdin')
  expect(specName(parseSpec('-'), 'output')).toBe('stdout')
  expect(specName(parseSpec('4', {fdNumbers: true}), 'output')).toBe('fd 4')
  expect(specName(parseSpec('old.save'), 'input')).toBe('old.save')
})

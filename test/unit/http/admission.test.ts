// Admission of HTTP requests (src/http/admission.ts): the request and body-byte
// budget, and what a request is charged.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { chargedBytes, RequestBudget } from '../../../src/http/admission.js';

describe('RequestBudget', () => {
  test('refuses past maxRequests and admits again once a request is done', () => {
    const budget = new RequestBudget({ maxRequests: 2, maxBodyBytes: 1000, bodyLimitBytes: 100 });
    assert.equal(budget.tryAdmit(0), true);
    assert.equal(budget.tryAdmit(10), true);
    assert.equal(budget.tryAdmit(0), false);
    budget.release(10);
    assert.equal(budget.tryAdmit(0), true);
    assert.deepEqual([budget.requests, budget.bodyBytes], [2, 0]);
  });

  test('refuses a body that would pass maxBodyBytes, but always admits one body on its own', () => {
    const budget = new RequestBudget({ maxRequests: 100, maxBodyBytes: 100, bodyLimitBytes: 1000 });
    assert.equal(budget.tryAdmit(500), true, 'alone, a body larger than the budget is let through');
    assert.equal(budget.tryAdmit(1), false);
    assert.equal(budget.tryAdmit(0), true, 'requests without a body are only counted');
    budget.release(500);
    assert.equal(budget.tryAdmit(60), true);
    assert.equal(budget.tryAdmit(40), true);
    assert.equal(budget.tryAdmit(1), false);
    assert.equal(budget.bodyBytes, 100);
  });
});

describe('chargedBytes', () => {
  test('content-length, capped at the body limit; unknown length: the body limit; no body: 0', () => {
    assert.equal(chargedBytes({ headers: { 'content-length': '42' } }, 1000), 42);
    assert.equal(chargedBytes({ headers: { 'content-length': '5000' } }, 1000), 1000);
    assert.equal(chargedBytes({ headers: { 'content-length': 'lots' } }, 1000), 1000);
    assert.equal(chargedBytes({ headers: { 'transfer-encoding': 'chunked' } }, 1000), 1000);
    assert.equal(chargedBytes({ headers: {} }, 1000), 0);
  });
});

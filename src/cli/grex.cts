#!/usr/bin/env node
/**
 * The entry of the `grex` command. CommonJS on purpose: it runs before
 * anything touches libuv's thread pool, whose size is read once, at first
 * use (loading ES modules already uses it), so only here can Grex choose it.
 *
 * Every file operation of a node goes through that pool: the write-ahead
 * log's writev and fdatasync, which answers wait for, and background work
 * nobody waits for (item files written behind the log, a checkpoint's fsyncs
 * of thousands of files). With the default 4 threads the log's calls queue
 * behind the background ones; the threads mostly sleep in the kernel, so more
 * of them cost little. A UV_THREADPOOL_SIZE set by the user wins.
 */
process.env.UV_THREADPOOL_SIZE ??= '16';
void import('./main.js');

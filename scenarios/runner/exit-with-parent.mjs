// Loaded into every process the lab runner starts (node --import): when the runner goes away
// without stopping its children (killed, crashed), the IPC channel closes and the child exits,
// so no replica is left running against the lab's database. The channel itself must not keep the
// child alive, so it is unref'd.
if (process.send) {
  process.channel?.unref()
  process.on('disconnect', () => process.kill(process.pid, 'SIGTERM'))
}

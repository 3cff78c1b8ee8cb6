// Healthcheck of the mongodb service (run by mongosh as the root user).
// First run: initiate the replica set of one. Afterwards: healthy only while this node is a writable primary,
// so services that depend on it can use transactions and change streams straight away.
try {
  rs.status();
} catch (error) {
  if (error.codeName !== "NotYetInitialized") {
    throw error;
  }
  // The member's host is the compose service name, which every client in the network resolves.
  rs.initiate({ _id: "rs0", members: [{ _id: 0, host: "mongodb:27017" }] });
}
if (!db.hello().isWritablePrimary) {
  quit(1);
}

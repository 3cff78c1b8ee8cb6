// Runs once, on the first start with an empty volume (official image's /docker-entrypoint-initdb.d), as root.
// Creates the pipeline's read-write user and Superset's read-only user for the smartmeter database.
const dbName = process.env.SMARTMETER_MONGO_DB || "smartmeter";
const admin = db.getSiblingDB("admin");

admin.createUser({
  user: process.env.MONGO_APP_USER,
  pwd: process.env.MONGO_APP_PASSWORD,
  roles: [{ role: "readWrite", db: dbName }],
});
admin.createUser({
  user: process.env.MONGO_READER_USER,
  pwd: process.env.MONGO_READER_PASSWORD,
  roles: [{ role: "read", db: dbName }],
});
print(`Created users ${process.env.MONGO_APP_USER} (readWrite) and ${process.env.MONGO_READER_USER} (read) on ${dbName}`);

// Passenger's startup file (PassengerStartupFile passenger.cjs). Passenger 6 loads it
// with require(), which cannot load an ES module with top-level await: import() can.
import("./app.js").catch((err) => {
  console.error(err);
  process.exit(1);
});

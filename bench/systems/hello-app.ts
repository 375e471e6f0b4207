/** The HTTP ceiling: bare fastify answering a POST (its JSON body parsed) or a GET with a constant. */
import { benchApp, serve } from './app-server.js';

const app = benchApp();
app.post('/hello', async () => ({ hello: 'world' }));
app.get('/hello', async () => ({ hello: 'world' }));
await serve(app);

using Cluster.Client;

return await ClientCommands.Create().Parse(args).InvokeAsync();

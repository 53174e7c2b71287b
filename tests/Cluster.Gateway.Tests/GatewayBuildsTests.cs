namespace Cluster.Gateway.Tests;

public sealed class GatewayBuildsTests
{
    [Fact]
    public void GeneratedApiTypesAreAvailable()
    {
        var request = new Cluster.Contracts.Api.GenerateRequest { Text = "hi" };
        Assert.Equal(Cluster.Contracts.Api.GenerateRequest.PromptOneofCase.Text, request.PromptCase);
    }
}

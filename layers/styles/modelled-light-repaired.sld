<?xml version="1.0" encoding="UTF-8"?>
<StyledLayerDescriptor xmlns="http://www.opengis.net/sld" xmlns:sld="http://www.opengis.net/sld" version="1.0.0" xmlns:ogc="http://www.opengis.net/ogc" xmlns:gml="http://www.opengis.net/gml">
  <UserLayer>
    <sld:LayerFeatureConstraints>
      <sld:FeatureTypeConstraint/>
    </sld:LayerFeatureConstraints>
    <sld:UserStyle>
      <sld:Name>modelled-light</sld:Name>
      <sld:FeatureTypeStyle>
        <sld:Rule>
          <sld:RasterSymbolizer>
            <sld:Opacity>0.75</sld:Opacity>
            <sld:ChannelSelection>
              <sld:GrayChannel>
                <sld:SourceChannelName>1</sld:SourceChannelName>
              </sld:GrayChannel>
            </sld:ChannelSelection>
            <sld:ColorMap type="ramp">
              <sld:ColorMapEntry label="0 lx" quantity="0" color="#000004"/>
              <sld:ColorMapEntry label="0,5 lx" quantity="0.5" color="#1c1044"/>
              <sld:ColorMapEntry label="1 lx" quantity="1" color="#4f127b"/>
              <sld:ColorMapEntry label="3 lx" quantity="3" color="#812581"/>
              <sld:ColorMapEntry label="5 lx" quantity="5" color="#b5367a"/>
              <sld:ColorMapEntry label="10 lx" quantity="10" color="#e55064"/>
              <sld:ColorMapEntry label="20 lx" quantity="20" color="#fb8761"/>
              <sld:ColorMapEntry label="≥ 30 lx" quantity="30" color="#fcfdbf"/>
            </sld:ColorMap>
          </sld:RasterSymbolizer>
        </sld:Rule>
      </sld:FeatureTypeStyle>
    </sld:UserStyle>
  </UserLayer>
</StyledLayerDescriptor>
